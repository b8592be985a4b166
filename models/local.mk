# models/local.mk: the bundled model and its card, installed where `ponder tui` looks for them.
modeldir = $(pkgdatadir)/models
dist_model_DATA = %reldir%/ponder-tiny.gguf %reldir%/README.md
