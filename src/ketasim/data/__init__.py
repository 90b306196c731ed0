"""Data in and out: NONMEM-style data sets (read as regimens, sampling times, observations and covariates;
written from any simulation), per-subject covariate tables and observed data for figures."""

from .nonmem import (DOSE_COMPARTMENTS, OUTPUT_IDS, DatasetError, NonmemDataset, dataset_records, read_nonmem,
                     write_nonmem)

__all__ = ["DOSE_COMPARTMENTS", "OUTPUT_IDS", "DatasetError", "NonmemDataset", "dataset_records", "read_nonmem",
           "write_nonmem"]
