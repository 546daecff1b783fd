// Tests pull from and push to servers they start on loopback; livemesh refuses loopback targets
// unless an operator allows them (LIVEMESH_ALLOW_PRIVATE_SOURCES), so test meshes allow exactly that.
// Tests never send traffic to any other address.
export const ALLOW_LOOPBACK_SOURCES = { LIVEMESH_ALLOW_PRIVATE_SOURCES: '127.0.0.0/8,::1/128' } as const;
