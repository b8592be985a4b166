# engine/train/ops.mk: training ops (forward with saved activations, backward) and the optimizer.
