// One flat config for the whole workspace. The module-boundary rule is what keeps the
// architecture honest: services never import services, libs never import services, and
// WeChat Pay code is reachable only from the payment scope.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/.nx/**',
      '**/.cache/**',
      '**/tmp/**',
      'libs/contracts/src/gen/**',
    ],
  },
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'type:contract', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:contract'] },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:lib', 'type:contract'] },
            {
              sourceTag: 'type:e2e',
              onlyDependOnLibsWithTags: ['type:lib', 'type:contract', 'type:service'],
            },
            { sourceTag: 'scope:shared', notDependOnLibsWithTags: ['scope:payment'] },
            { sourceTag: 'scope:auth', notDependOnLibsWithTags: ['scope:payment'] },
            { sourceTag: 'scope:session', notDependOnLibsWithTags: ['scope:payment'] },
            { sourceTag: 'scope:router', notDependOnLibsWithTags: ['scope:payment'] },
            { sourceTag: 'scope:behaviour', notDependOnLibsWithTags: ['scope:payment'] },
          ],
        },
      ],
    },
  },
);
