//! The paper's claims as tests, one module per claim; each module's documentation states the
//! claim in words and formula, with the SPEC section and the paper's equation.

mod aihf_limits;
mod aihf_stationarity;
mod btl_mle;
mod direct_estimators;
mod eq42_prefix_tree;
mod gradients;
mod lemma_4_1_gradient;
mod lemma_a1_lipschitz;
mod lemma_a3_soft_bellman;
mod markov_task;
mod mdp_registry;
mod mdp_strategies;
mod rlhf_inconsistency;
mod self_play;
mod sft_stationarity;
mod sim_a23_situations;
mod sim_authors_example;
mod sim_ci_coverage;
mod sim_consistency;
mod sim_fig9_coverage;
mod sim_support;
mod sim_variance_claim;
mod solver_robustness;
mod strategies;
mod theorem_4_1_rates;
mod truth_policy;
