import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { createApiClient, createQueryClient, TRPCProvider } from './api.ts';
import './styles.css';

const queryClient = createQueryClient();
const trpcClient = createApiClient();
const root = document.getElementById('root');
if (!root) throw new Error('#root is missing from the page');

createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <App />
      </TRPCProvider>
    </QueryClientProvider>
  </StrictMode>,
);
