# engine/sampler.mk: owned by its module
