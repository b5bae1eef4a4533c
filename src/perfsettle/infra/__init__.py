"""Process and file-system primitives used by the shell: fault-injection points, child processes."""
