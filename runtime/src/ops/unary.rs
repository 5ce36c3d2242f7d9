//! (to be implemented)
use super::OpKind;
use crate::error::OpError;
use crate::tensor::{TensorInfo, TensorView, TensorViewMut};

pub(crate) fn check(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    let _ = (op, params, inputs, outputs);
    Err(OpError::Unsupported("op not implemented yet"))
}

pub(crate) fn exec(op: OpKind, params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut]) -> Result<(), OpError> {
    let _ = (op, params, inputs, outputs);
    Err(OpError::Unsupported("op not implemented yet"))
}
