"""Headless engine of MFDV Studio: stochastic layers, models, data, training,
attacks, evaluation and the HDF5 project store. Never imports Qt."""

__version__ = "0.1.0"
