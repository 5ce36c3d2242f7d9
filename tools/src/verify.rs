//! Runs a converted model and the original ONNX (with tract) on the same inputs and compares them.
//! (to be implemented)
