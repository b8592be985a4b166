# engine/aha.mk: the built-in aha-moment detector.
