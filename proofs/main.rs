//! The paper's claims as tests, one module per claim (see each module's documentation).
mod eq42_prefix_tree;
mod lemma_4_1_gradient;
mod lemma_a1_lipschitz;
mod lemma_a3_soft_bellman;
mod mdp_strategies;
mod theorem_4_1_rates;
mod mdp_registry;
