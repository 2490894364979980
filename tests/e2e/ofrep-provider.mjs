// An OFREP provider for OpenFeature's server SDK over @openfeature/ofrep-core, the maintained
// OFREP client (its request, its mapping of answers and errors to resolution details). The
// published server provider, @openfeature/ofrep-provider 0.1.3 (2024), needs ofrep-core 0.1 and
// turns an answer without a value (a flag without a default variant) into TYPE_MISMATCH, which
// ofrep-core 2 maps to the caller's default as OpenFeature specifies.
import { OFREPApi, handleEvaluationError, toResolutionDetails } from '@openfeature/ofrep-core';

/** OFREP single-flag evaluation (`POST /ofrep/v1/evaluate/flags/{key}`) for the server SDK. */
export class OfrepProvider {
  metadata = { name: 'pilot-gate-tests-ofrep' };
  runsOn = 'server';
  /** `options`: ofrep-core's ({ baseUrl, headers: [[name, value]] }). */
  constructor(options) { this.api = new OFREPApi(options); }
  async resolve(flagKey, defaultValue, context) {
    try {
      const r = await this.api.postEvaluateFlag(flagKey, { context });
      if (r.httpStatus !== 200 || 'errorCode' in r.value) return handleEvaluationError(r.value, defaultValue);
      return toResolutionDetails(r.value, defaultValue);
    } catch (e) {
      return handleEvaluationError(e, defaultValue);
    }
  }
  resolveBooleanEvaluation(k, d, c) { return this.resolve(k, d, c); }
  resolveStringEvaluation(k, d, c) { return this.resolve(k, d, c); }
  resolveNumberEvaluation(k, d, c) { return this.resolve(k, d, c); }
  resolveObjectEvaluation(k, d, c) { return this.resolve(k, d, c); }
}
