"""Data: DSSTNE's text format, index files, netCDF-4 dataset files, importers and training batches."""
