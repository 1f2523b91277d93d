/** The one place the compiler touches compiler/cel, so its API shape is visible at a glance. */
export { compileCel, CelError, type CelEnvironment, type CelProgram } from '../cel/index.ts';
