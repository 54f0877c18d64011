//! The paper's claims as tests, one module per claim; each module's documentation states the
//! claim in words and formula, with the SPEC section and the paper's equation.

mod strategies;

mod aihf_limits;
mod aihf_stationarity;
mod btl_mle;
mod direct_estimators;
mod gradients;
mod rlhf_inconsistency;
mod self_play;
mod sft_stationarity;
mod solver_robustness;
mod sim_a23_situations;
mod sim_authors_example;
mod sim_ci_coverage;
mod sim_consistency;
mod sim_fig9_coverage;
mod sim_support;
mod sim_variance_claim;
