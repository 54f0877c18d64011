use crate::verify::Claim;
pub fn claims() -> Vec<Claim> { vec![] }
