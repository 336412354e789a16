"""The exit codes every verb uses: 0 done, 1 a problem with the data or devices, 2 a usage mistake, 130 Ctrl-C."""

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
