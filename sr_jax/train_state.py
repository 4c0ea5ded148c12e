"""The training state, its optimizer and its construction from a config."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """Everything a training step updates; a pytree, checkpointed whole.

  Attributes:
    step: int32 scalar, the number of optimizer steps taken.
    params: the model parameters (float32).
    opt_state: the optax state.
    ema_params: exponential moving average of ``params``, or None when
      ``config.ema_decay == 0``.
  """

  step: jnp.ndarray
  params: Any
  opt_state: Any
  ema_params: Any = None

  def eval_params(self):
    """The params to evaluate: the EMA when there is one."""
    return self.params if self.ema_params is None else self.ema_params


def learning_rate_schedule(config) -> optax.Schedule:
  """``config.optim``'s schedule: constant, cosine or step, after a warmup."""
  o = config.optim
  base = o.learning_rate
  warmup = min(o.warmup_steps, max(config.total_steps - 1, 0))
  if o.schedule == "constant":
    main = optax.constant_schedule(base)
  elif o.schedule == "cosine":
    main = optax.cosine_decay_schedule(
      base, decay_steps=max(config.total_steps - warmup, 1)
    )
  elif o.schedule == "step":
    if o.decay_every <= 0:
      raise ValueError("--config.optim.decay_every must be > 0 for 'step'")
    main = optax.exponential_decay(
      base, transition_steps=o.decay_every, decay_rate=0.5, staircase=True
    )
  else:
    raise ValueError(
      f"--config.optim.schedule={o.schedule!r}: use constant, cosine or step"
    )
  if warmup <= 0:
    return main
  return optax.join_schedules(
    [optax.linear_schedule(0.0, base, warmup), main], [warmup]
  )


def create_optimizer(config) -> optax.GradientTransformation:
  """Adam with the configured schedule."""
  return optax.adam(
    learning_rate_schedule(config), b1=config.optim.b1, b2=config.optim.b2
  )


def create_train_state(rng, config, model, tx, params=None) -> TrainState:
  """A step-0 state: ``params`` if given, else initialised on a tiny input.

  The models are fully convolutional, so an 8x8 input fixes every shape.
  Given ``params`` (``config.init_from``) start a new schedule and optimizer
  from those weights.
  """
  if params is None:
    dummy = jnp.zeros((1, 8, 8, config.model.channels), jnp.float32)
    params = model.init(rng, dummy)["params"]
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    opt_state=tx.init(params),
    ema_params=(
      jax.tree.map(jnp.copy, params) if config.ema_decay > 0 else None
    ),
  )
