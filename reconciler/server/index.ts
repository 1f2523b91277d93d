export { createCofferServer, listen, parseListen, ListenError, type ServerOptions } from './http.ts';
export { Live, ApiInputError, type BackupJob, type Health, type LiveOptions } from './live.ts';
export { ReconcileTrigger } from './trigger.ts';
export { TokenStore, parseTokenFile, TokenFileError, type Principal, type Role } from './auth.ts';
export { verifyDelivery, decideDelivery, deliveryId, constantTimeEqual, PROVIDERS, MIN_SECRET_LENGTH, TIMESTAMP_TOLERANCE_MS, type Provider } from './webhooks.ts';
export { ReplayGuard } from './replay.ts';
export { startServing, webhookSecret, ServeConfigError, type ServeOptions, type Serving } from './serve.ts';
export { audienceError, KubeIdentities, KubeReviewError, type KubeUser, type Verdict } from './kube-auth.ts';
export { forbiddenMessage, readAccess, roleAllows, API_GROUP, type Access } from './access.ts';
