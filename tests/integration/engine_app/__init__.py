"""The engine tests' application (its directory is the worker's classpath) and their harness."""
