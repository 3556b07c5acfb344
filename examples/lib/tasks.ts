/** The examples' task suites live with the `zpd` command (one per regime); re-exported for the examples and tests. */
export { standardSuite, suiteFor, type TaskSuite } from "@zpd/cli/Suite"
