"""Use-cases, one module per capability. Each service is a small class around a UnitOfWork."""
