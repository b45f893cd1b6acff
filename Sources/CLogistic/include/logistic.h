#ifndef SMIA_LOGISTIC_H
#define SMIA_LOGISTIC_H

/// The logistic function of logits and its logarithms, 4 values at a time, for the engine's
/// sigmoid, log-sigmoid and focal loss: for each z[i],
///   p[i]      = sigmoid(z)          = 1 / (1 + exp(-z))
///   q[i]      = 1 - sigmoid(z)      = sigmoid(-z), without the cancellation of 1 - p
///   log_p[i]  = log sigmoid(z)      = -softplus(-z)
///   log_q[i]  = log(1 - sigmoid(z)) = -softplus(z)
/// the logarithms finite for any finite logit (no log(0)), all within a few units in the last
/// place of float. Outputs given as NULL are not written. A NaN logit gives NaN; +-infinity
/// the limits.
void smia_logistic(const float *z, float *p, float *q, float *log_p, float *log_q, long n);

#endif
