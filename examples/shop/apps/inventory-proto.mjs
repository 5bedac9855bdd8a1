// Loads inventory.proto for the inventory server and its clients.
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath, URL } from 'node:url';

const definition = loadSync(fileURLToPath(new URL('./inventory.proto', import.meta.url)), {
  keepCase: true,
  defaults: true,
});

/** The `shop.Inventory` service constructor (client) with `.service` (for a server). */
export const Inventory = loadPackageDefinition(definition).shop.Inventory;
