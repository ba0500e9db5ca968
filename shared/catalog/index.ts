export { loadCatalog, type Catalog, type CatalogSource } from './load-catalog.ts';
export { importUserModules, type UserModule } from './user-modules.ts';
