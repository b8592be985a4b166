# kernels/cpu/quant.mk: owned by its module
