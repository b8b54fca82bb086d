export {
  SchemaRegistryClient,
  registrySettingsFromConfig,
  type CompatibilityLevel,
  type RegisteredTopicSchema,
  type SchemaDefinition,
  type SchemaRegistrySettings,
} from './schema-registry.client';
export { AvroCodec, invalidFields, type Decoded } from './avro-codec';
export {
  HEADER_LENGTH,
  MAGIC_BYTE,
  encodeFramed,
  encodeFramedInScratch,
  framedScratch,
  unframe,
  type WireFrame,
} from './wire-format';
export { createRegistryConnection } from './registry-connection';
