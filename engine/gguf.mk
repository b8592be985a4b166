# engine/gguf.mk: owned by its module
