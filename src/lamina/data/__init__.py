"""Data: DSSTNE's text format, index files, netCDF-4 dataset files, importers and training batches.

Modules (import the one you need; this package imports nothing heavy):

* ``textformat`` — ``read_chunks``: the ``sample<TAB>feature[,value]:...`` text format, parsed in
  chunks with numpy (``text_parse``: the parsers; ``text_chunk``: ``Chunk`` and shared checks).
* ``index`` — ``load_index`` / ``write_index``: ``label<TAB>index`` files.
* ``generate`` — ``generate_netcdf``: text -> dataset file + indices (``lamina generate-netcdf``);
  ``assemble``: label tables and row assembly behind it.
* ``nc_write`` — ``DatasetArrays``, ``write_datasets``: DSSTNE's netCDF layout, written atomically.
* ``nc_read`` — ``open_datasets`` / ``read_dataset`` -> ``DatasetFile`` (rows read lazily).
* ``batches`` — ``Batches``: shuffled minibatches of aligned datasets (``batch.SparseBatch``);
  ``rows`` — numpy row blocks and the bounded read plan behind ``Batches``.
* ``importers``, ``split``, ``synth`` — ``lamina data import|split|synth``.
* ``info`` — ``dataset_stats`` (``lamina data info``); ``schema`` — attribute bits, data types,
  width rounding; ``labels`` — label factorisation and stable feature hashing.
"""
