"""Reading the inbox: which files are taken, hostile-file checks, cell grids, cell values, validation into accepted rows and findings."""
