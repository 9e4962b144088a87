"""Research formats: read and write a Volume by file type."""
