//! (to be implemented)
use crate::error::OpError;
use crate::tensor::{TensorInfo, TensorView, TensorViewMut};
use sprig_kernels::Isa;

pub(crate) fn check(params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    let _ = (params, inputs, outputs);
    Err(OpError::Unsupported("op not implemented yet"))
}

pub(crate) fn exec(params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut], scratch: &mut [u8], isa: Isa) -> Result<(), OpError> {
    let _ = (params, inputs, outputs, scratch, isa);
    Err(OpError::Unsupported("op not implemented yet"))
}
