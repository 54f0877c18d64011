//! The paper's claims as tests, one module per claim (see each module's documentation).
mod sim_a23_situations;
mod sim_authors_example;
mod sim_ci_coverage;
mod sim_consistency;
mod sim_fig9_coverage;
mod sim_support;
mod sim_variance_claim;
