"""The exit statuses of every ``remvae`` command: 0 success, 1 a stage or a write failed, 2 bad input, 130 interrupted."""

EXIT_OK, EXIT_STAGE_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
