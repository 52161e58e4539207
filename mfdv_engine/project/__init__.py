"""The project file and every file the tool writes: the HDF5 store (store, records, tables, trash, h5guard,
h5tree), safe writes (fsio), the one output rule (outputs), CSV exports (export, csvsafe)."""
