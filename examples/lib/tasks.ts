/** The examples' task suite lives with the `zpd` command; re-exported for the examples and tests. */
export { standardSuite, type TaskSuite } from "@zpd/cli/Suite"
