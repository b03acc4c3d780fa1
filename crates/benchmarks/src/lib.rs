//! Shared parts of Chamberlain's benchmark binaries (`chamberlain-bench`,
//! `chamberlain-sync-bench`): the benchmark database and the c1z data-set generator.

pub mod c1zgen;
pub mod db;
