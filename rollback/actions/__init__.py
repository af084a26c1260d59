"""One action object per command (Helm style): built with its dependencies, `run()` tells the story."""
