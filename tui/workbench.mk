# tui/workbench.mk: the full-screen workbench (ponder tui), one file per view.
