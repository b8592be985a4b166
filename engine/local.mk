# The engine: shared utilities, model loading, the forward pass, generation.
engine_libengine_a_SOURCES += \
	%reldir%/pd.c %reldir%/pd.h \
	%reldir%/model.c %reldir%/model.h %reldir%/model-repack.c \
	%reldir%/forward.c %reldir%/forward-impl.h %reldir%/moe.c %reldir%/route.c %reldir%/route.h \
	%reldir%/mla.c \
	%reldir%/forward-cuda.c %reldir%/forward-cuda-impl.h \
	%reldir%/forward-cuda-setup.c %reldir%/weight-plan.c %reldir%/weight-plan.h \
	%reldir%/lora.c %reldir%/lora.h %reldir%/lora-fwd.c \
	%reldir%/generate.c %reldir%/generate.h %reldir%/event.h
