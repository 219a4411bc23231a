// Package eval measures few-shot accuracy of a trained embedding under a
// stated protocol: random N-way K-shot episodes over held-out classes with a
// 95% confidence interval, and Omniglot's 20 official one-shot runs.
//
// Every figure carries the protocol that produced it, its seed and the
// dataset fingerprint; figures from different protocols are never mixed.
// A query's class is decided by a Classifier: nearest prototype, nearest
// neighbour, the Siamese head, or Matching Networks' attention
// (DefaultClassifier: attention for a model trained with the matching
// loss, prototypes otherwise).
//
// eval imports model, episodes, checkpoints and params; never NATS, and never
// cli.
package eval
