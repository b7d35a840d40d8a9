"""Multi-step tool tasks: task files (``data/*.yaml``), the task kind ``agent`` and its report table."""
