//! Neural-network layers, losses and optimizers on `ndarray`.
