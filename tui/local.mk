# The ponder program: main and one file per sub-command.
ponder_SOURCES += \
	%reldir%/main.c %reldir%/cli.h %reldir%/cli.c %reldir%/cli-group.c \
	%reldir%/cmd-run.c %reldir%/cmd-model.c %reldir%/cmd-bench.c \
	%reldir%/run-log.c %reldir%/cmd-sessions.c %reldir%/cmd-annotate.c
ponder_SOURCES += %reldir%/chat.h %reldir%/cmd-chat.c %reldir%/chat-opts.c %reldir%/chat-gen.c \
	%reldir%/chat-line.c
ponder_SOURCES += %reldir%/settings.h %reldir%/settings.c
