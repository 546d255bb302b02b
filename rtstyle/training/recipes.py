"""The loss weights of each network variant, shared by the zoo's recipes (``python -m export.zoo``)
and ``rtstyle train``. Plain numbers: importing this module does not import torch."""

from __future__ import annotations

# The fast variant learns from its full network (distillation in VGG feature space, see
# rtstyle.training.losses.feature_distance) and from the perceptual loss. Distillation keeps the teacher's
# strokes and keeps out the periodic hatching a Gram loss alone lets a small network get away
# with; but the small network cannot put every stroke where the teacher does, and at 1e6 the
# term dominated and held the style back (udnie_fast, 300 steps: Gram 1.85x the full network's
# at 1e6, 1.61x at 2e5, 1.76x with every weight halved; docs/training.md).
FAST_DISTILL_WEIGHT = 2e5
# Twice the full network's style weight and half its content weight: the small network keeps
# content better than the full one (relu3_3 distance 0.95-1.03x the full network's at equal
# content weight), so it can spend some of it on style. Raising the style weight instead was
# worse at Adam 1e-3 (4e10, 8e10); halving the content weight moved woman_with_hat_fast from Gram
# 1.22x to 1.17x the full network's for content 1.03x -> 1.06x (300 steps, 8 held-out photos).
FAST_STYLE_WEIGHT = 2e10
FAST_CONTENT_WEIGHT = 5e4
# The second fast networks (FastTransformerNetV2) are the first ones fine-tuned with the stability
# term (rtstyle.training.losses.temporal_distance), which starts at about the content term's size. v2 has no
# middle norm in its residual blocks: folding it costs starry_night most of its style (Gram 1.75x
# the full network's before any step), which 300 steps did not win back at any weights tried. 600
# steps at a 1.5x style weight, the rate annealed to zero, did: Gram 1.06x (v1 1.09x), warping
# error 0.59x / 0.67x v1's on the two real clips, 0.21x / 0.37x with the stabilizer (docs/training.md).
FAST_TEMPORAL_WEIGHT = 2.5e7
# Calm regions (docs/training.md, eighteenth and nineteenth sessions): the grain term (a crop plus
# faint noise must be painted as the crop) takes the texture the fast networks invented in skies
# and walls away, and a light border term the wider frame the grain term alone leaves along the
# borders: the zoo's calm networks (python -m export.zoo --variant calm). rtstyle train takes them as
# --noise-weight 1e9 --noise-level 5 --border-weight 6e7, off by default: in its 200 fast steps they
# halved the calm-region texture but cost 15 % of the style at 128 px, 11 % in 400 (docs/training.md,
# nineteenth session).
CALM_NOISE_WEIGHT, CALM_NOISE_LEVEL = 1e9, 5.0
CALM_BORDER_WEIGHT = 6e7
