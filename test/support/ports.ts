// One implementation for tests and benchmarks (the build compiles bench/, not test/).
export { freePort } from '../../bench/support/measure';
