"""Training objectives of the closed-set UNet: what it predicts and how the loss is weighted.

- ``epsilon`` (the original default): DDPM noise prediction, plain MSE; optionally min-SNR-γ
  weighted (Hang et al. 2023) with ``diffusers.training_utils.compute_snr``.
- ``v_prediction``: the DDPM scheduler's velocity target (``get_velocity``), min-SNR-γ weighted
  as ``min(snr, γ) / (snr + 1)`` when ``snr_gamma`` is set.
- ``edm``: Karras et al. (2022) preconditioning with diffusers' ``EDMEulerScheduler``
  (``precondition_inputs`` / ``precondition_noise`` / ``precondition_outputs``): noise levels
  σ ~ logNormal(p_mean, p_std), loss λ(σ)·‖D(x0 + σn; σ) − x0‖² with
  λ = (σ² + σ_data²) / (σ·σ_data)². The UNet is called with ``c_noise = log(σ)/4`` as its
  timestep, exactly as the EDM schedulers call it when sampling.

Every objective draws its per-sample noise levels from the caller's CPU generator *after* the
noise (the order the epsilon path always used), so an epsilon run is bit-identical to one made
before the other objectives existed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, EDMEulerScheduler, UNet2DModel
from diffusers.training_utils import compute_snr

from genaug.models.diffusion import build_train_scheduler
from genaug.schemas.synthesis import TrainParams


class DDPMObjective:
    """Epsilon or v prediction on a DDPM schedule, optionally min-SNR-γ weighted."""

    def __init__(self, scheduler: DDPMScheduler, snr_gamma: float | None = None) -> None:
        self.scheduler, self.snr_gamma = scheduler, snr_gamma
        self.prediction = scheduler.config.prediction_type

    def draw_levels(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform integer timesteps in [0, num_train_timesteps)."""
        return torch.randint(0, self.scheduler.config.num_train_timesteps, (batch_size,),
                             generator=generator)

    def loss(self, unet: UNet2DModel, x0: torch.Tensor, labels: torch.Tensor,
             noise: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """MSE to the noise (epsilon) or the velocity (v), weighted per sample by min-SNR-γ."""
        noisy = self.scheduler.add_noise(x0, noise, levels)
        pred = unet(noisy, levels, class_labels=labels).sample
        if self.prediction == "v_prediction":
            target = self.scheduler.get_velocity(x0, noise, levels)
        else:
            target = noise
        if self.snr_gamma is None:
            return F.mse_loss(pred, target)
        snr = compute_snr(self.scheduler, levels).to(pred.device)
        clipped = torch.clamp(snr, max=self.snr_gamma)
        weight = clipped / (snr + 1) if self.prediction == "v_prediction" else clipped / snr
        per_sample = F.mse_loss(pred, target, reduction="none").mean(dim=(1, 2, 3))
        return (weight * per_sample).mean()


class EDMObjective:
    """EDM preconditioning and loss weighting, from EDMEulerScheduler's precondition_* methods."""

    def __init__(self, scheduler: EDMEulerScheduler, p_mean: float, p_std: float) -> None:
        self.scheduler, self.p_mean, self.p_std = scheduler, p_mean, p_std

    def draw_levels(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Log-normal sigmas: exp(p_mean + p_std · N(0, 1))."""
        return (self.p_mean + self.p_std * torch.randn(batch_size, generator=generator)).exp()

    def loss(self, unet: UNet2DModel, x0: torch.Tensor, labels: torch.Tensor,
             noise: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """λ(σ)-weighted MSE of the preconditioned denoiser's output to the clean images."""
        sigma = levels.to(x0.device).view(-1, 1, 1, 1)
        noisy = x0 + sigma * noise
        model_in = self.scheduler.precondition_inputs(noisy, sigma)
        c_noise = self.scheduler.precondition_noise(levels.to(x0.device))
        out = unet(model_in, c_noise, class_labels=labels).sample
        denoised = self.scheduler.precondition_outputs(noisy, out, sigma)
        sigma_data = self.scheduler.config.sigma_data
        weight = (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2
        return (weight * (denoised - x0) ** 2).mean()


def build_objective(train: TrainParams) -> DDPMObjective | EDMObjective:
    """The objective (and its training scheduler, stored with the weights) `train` asks for."""
    if train.prediction == "edm":
        e = train.edm
        scheduler = EDMEulerScheduler(sigma_min=e.sigma_min, sigma_max=e.sigma_max,
                                      sigma_data=e.sigma_data,
                                      num_train_timesteps=train.num_train_timesteps,
                                      prediction_type="epsilon")
        return EDMObjective(scheduler, e.p_mean, e.p_std)
    scheduler = build_train_scheduler(train.num_train_timesteps, train.beta_schedule,
                                      train.prediction)
    return DDPMObjective(scheduler, train.snr_gamma)
