"""sr_jax: single-image super-resolution in JAX and Flax."""
