// layers/loss.h: softmax cross-entropy, mean over the batch.
//   cross_entropy: hard labels with optional label smoothing e, as timm's LabelSmoothingCrossEntropy:
//       (1 - e) * nll + e * mean_k(-log p_k)  ==  soft-target CE with target (1 - e) * onehot + e / K.
//       e = 0 is torch.nn.CrossEntropyLoss.
//   soft_target_cross_entropy: sum_k -t_k log p_k, mean over the batch (timm's SoftTargetCrossEntropy,
//       for mixup/cutmix targets).
// logits: (B, K) -> loss: scalar (shape []).
#pragma once
#include <cstdint>

#include "tapevit/tape.h"

namespace tapevit {

// probs (B, K): softmax kept for backward. Returns the mean loss.
template <class T>
T softmax_xent_forward(T* probs, const T* logits, const T* targets, int64_t B, int64_t K);
// dlogits += dloss * (probs - targets) / B
template <class T>
void softmax_xent_backward(T* dlogits, T dloss, const T* probs, const T* targets, int64_t B, int64_t K);

// targets (B, K) from labels: (1 - e) * onehot + e / K. Throws naming the bad label.
template <class T>
void smoothed_targets(T* targets, const int32_t* labels, int64_t B, int64_t K, double smoothing);

template <class T>
Var<T> cross_entropy(Tape<T>& t, Var<T> logits, const int32_t* labels, double smoothing = 0);
template <class T>
Var<T> soft_target_cross_entropy(Tape<T>& t, Var<T> logits, const T* targets);

}  // namespace tapevit
