//! `aihf`: numerical checks of "Learning Reward and Policy Jointly from Demonstration and
//! Preference Improves Alignment" (AIHF).
//!
//! Layers (one module each; the mathematics is `shared/SPEC.md`):
//! - [`method`]: the one enum of estimators and the method sets commands ask for;
//! - [`bandit`]: exact one-step estimators — SFT, BTL, RLHF, AIHF, the DPO family (SPEC §1);
//! - [`mdp`]: tabular MDPs, soft Bellman machinery, ML-IRL and Algorithm 1 (SPEC §2);
//! - [`markov`]: the Markov task at LLM scale and its exact solution (SPEC §3.1);
//! - [`sim`] and [`stats`]: Monte Carlo studies of the estimators (SPEC §4);
//! - [`truth`]: exact sequence-level estimators on the Markov task (SPEC §3.2);
//! - [`verify`]: the claim types (outcome, verdict, report) every layer's claims use;
//! - [`registry`]: the claims that `aihf verify` runs, above every layer;
//! - [`plot`]: figures drawn from results JSON;
//! - `neural` (feature `neural`): the tch layer (SPEC §3).
#![warn(missing_docs)]
#![deny(clippy::float_cmp)]

pub mod bandit;
pub mod data;
pub mod error;
pub mod io;
pub mod markov;
pub mod math;
pub mod mdp;
pub mod method;
pub mod plot;
pub mod registry;
pub mod seed;
pub mod sim;
pub mod stats;
pub mod tol;
pub mod truth;
pub mod valid;
pub mod verify;

#[cfg(feature = "neural")]
pub mod neural;

pub use error::{AihfError, Result};
