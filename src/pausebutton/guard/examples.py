"""A small decoder-only transformer for tests, benchmarks and the operators' guide.

Attention is written with plain matrix products so that ``FlopCounterMode``
counts it the same way on every device. ``analytic_train_flops`` is the
usual 6·N·D estimate (N = non-embedding parameters of the matrix products,
D = tokens per step).
"""

from __future__ import annotations

import math
from typing import Any

from pausebutton.guard.torch import _torch


def tiny_gpt(
    *, vocab: int = 128, d_model: int = 96, n_layer: int = 2, n_head: int = 4, ctx: int = 16
) -> Any:
    """A GPT-style model: token + position embeddings, pre-norm blocks, an untied head."""
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d_model)
            self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
            self.proj = nn.Linear(d_model, d_model, bias=False)
            self.ln2 = nn.LayerNorm(d_model)
            self.up = nn.Linear(d_model, 4 * d_model, bias=False)
            self.down = nn.Linear(4 * d_model, d_model, bias=False)
            mask = torch.full((ctx, ctx), float("-inf")).triu(1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, x: Any) -> Any:
            b, t, d = x.shape
            hd = d // n_head
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q = q.view(b, t, n_head, hd).transpose(1, 2)
            k = k.view(b, t, n_head, hd).transpose(1, 2)
            v = v.view(b, t, n_head, hd).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hd) + self.mask[:t, :t]
            y = att.softmax(dim=-1) @ v
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.down(torch.nn.functional.gelu(self.up(self.ln2(x))))

    class TinyGPT(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Embedding(ctx, d_model)
            self.blocks = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)
            self.ctx = ctx
            self.vocab = vocab

        def forward(self, idx: Any) -> Any:
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln(x))

    return TinyGPT()


def matmul_params(model: Any) -> int:
    """N for 6·N·D: the weights of every Linear layer (embeddings and norms excluded)."""
    torch = _torch()
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def analytic_train_flops(model: Any, tokens: int) -> int:
    """6·N·D: forward (2·N per token) plus backward (4·N per token)."""
    return 6 * matmul_params(model) * tokens


def make_batch(model: Any, batch: int, *, seed: int = 0, device: str = "cpu") -> tuple[Any, Any]:
    """Random token ids and next-token targets for ``model``."""
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, model.vocab, (batch, model.ctx + 1), generator=gen)
    data = data.to(device)
    return data[:, :-1], data[:, 1:]


def train_step(model: Any, optimizer: Any, x: Any, y: Any) -> Any:
    """One plain training step (forward, loss, backward, optimizer step)."""
    torch = _torch()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()
